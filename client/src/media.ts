// Local capture: cameras, microphones, the screen, and what to tell people
// when the browser says no.

import type { types } from 'mediasoup-client';

/** Camera sent as three simulcast layers (1/4, 1/2 and full size), three temporal layers each. */
export const CAMERA_ENCODINGS: types.RtpEncodingParameters[] = [
  { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150_000, scalabilityMode: 'L1T3' },
  { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500_000, scalabilityMode: 'L1T3' },
  { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1_500_000, scalabilityMode: 'L1T3' },
];
export const CAMERA_CODEC_OPTIONS: types.ProducerCodecOptions = { videoGoogleStartBitrate: 1000 };
export const SCREEN_ENCODINGS: types.RtpEncodingParameters[] = [{ maxBitrate: 1_500_000 }];
export const MIC_CODEC_OPTIONS: types.ProducerCodecOptions = { opusStereo: false, opusDtx: true, opusFec: true };

export function cameraConstraints(deviceId?: string): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    width: { ideal: 1280 },
    height: { ideal: 720 },
    frameRate: { ideal: 24, max: 30 },
  };
}

export function micConstraints(deviceId?: string): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
  };
}

function requireMediaDevices(): MediaDevices {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new MediaAccessError(
      'insecure',
      'This page cannot use a camera or microphone here: open it over HTTPS (or on localhost).',
    );
  }
  return navigator.mediaDevices;
}

export async function getCamera(deviceId?: string): Promise<MediaStreamTrack> {
  return wrap('camera', async () => {
    const stream = await requireMediaDevices().getUserMedia({ video: cameraConstraints(deviceId) });
    return stream.getVideoTracks()[0]!;
  });
}

export async function getMic(deviceId?: string): Promise<MediaStreamTrack> {
  return wrap('microphone', async () => {
    const stream = await requireMediaDevices().getUserMedia({ audio: micConstraints(deviceId) });
    return stream.getAudioTracks()[0]!;
  });
}

export async function getScreen(): Promise<MediaStreamTrack> {
  return wrap('screen', async () => {
    const devices = requireMediaDevices();
    if (!devices.getDisplayMedia) throw new MediaAccessError('unsupported', 'This browser cannot share its screen.');
    const stream = await devices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    const track = stream.getVideoTracks()[0]!;
    // Text and slides: keep them sharp rather than smooth.
    track.contentHint = 'detail';
    return track;
  });
}

export async function listDevices(kind: MediaDeviceKind): Promise<MediaDeviceInfo[]> {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const all = await navigator.mediaDevices.enumerateDevices();
  return all.filter((d) => d.kind === kind && d.deviceId !== '');
}

export type MediaProblem = 'denied' | 'not-found' | 'busy' | 'insecure' | 'unsupported' | 'cancelled' | 'other';

export class MediaAccessError extends Error {
  constructor(
    readonly problem: MediaProblem,
    message: string,
  ) {
    super(message);
    this.name = 'MediaAccessError';
  }
}

async function wrap(what: 'camera' | 'microphone' | 'screen', get: () => Promise<MediaStreamTrack>): Promise<MediaStreamTrack> {
  try {
    return await get();
  } catch (error) {
    if (error instanceof MediaAccessError) throw error;
    throw describeMediaError(error as DOMException, what);
  }
}

export function describeMediaError(error: DOMException, what: 'camera' | 'microphone' | 'screen'): MediaAccessError {
  switch (error.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return what === 'screen'
        ? new MediaAccessError('cancelled', 'Screen sharing was cancelled or is not allowed.')
        : new MediaAccessError(
            'denied',
            `Access to the ${what} was denied. Allow it in the browser's site settings (the icon left of the address), then try again.`,
          );
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new MediaAccessError('not-found', `No ${what} was found. Plug one in, then try again.`);
    case 'NotReadableError':
    case 'AbortError':
      return new MediaAccessError('busy', `The ${what} is in use by another application, or it failed to start.`);
    default:
      return new MediaAccessError('other', `The ${what} could not be started: ${error.message || error.name}.`);
  }
}
