// A peer's session in a room, shared by the teacher and student pages: the
// signaling connection, the mediasoup-client Device and its two transports,
// what this peer publishes and what it receives.
//
// A dropped connection is a new peer on the server. The room then rebuilds
// itself by itself: it joins again, creates new transports, consumes what the
// room has and publishes again what this page was publishing. Failed ICE is
// repaired with restartIce first, and with a new session if that fails.

import { Device, type types } from 'mediasoup-client';
import { Emitter } from './emitter';
import type {
  ConsumerId,
  Joined,
  MediaKind,
  Notification,
  PeerId,
  ProducerId,
  ProducerInfo,
  Source,
  TransportCreated,
  TransportId,
} from './protocol';
import { RequestError, Signaling, type SignalingState, type StopReason } from './signaling';
import { signalingUrls } from './token';

/** Something this page sends: a local track, and its producer while connected. */
export interface Publication {
  source: Source;
  track: MediaStreamTrack;
  paused: boolean;
  producer: types.Producer | null;
  encodings?: types.RtpEncodingParameters[];
  codecOptions?: types.ProducerCodecOptions;
}

/** Something this page receives: one consumer's track. */
export interface RemoteMedia {
  consumerId: ConsumerId;
  producerId: ProducerId;
  peerId: PeerId;
  source: Source;
  kind: MediaKind;
  type: 'simple' | 'simulcast' | 'svc';
  track: MediaStreamTrack;
  consumer: types.Consumer;
  producerPaused: boolean;
  /** The simulcast layer the server forwards now (null: none, or not simulcast). */
  spatialLayer: number | null;
  temporalLayer: number | null;
}

export type RoomStatus =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; reason: string; at: number | null }
  | { kind: 'ended'; reason: StopReason; message: string };

export type MediaHealth = 'ok' | 'repairing';

export interface RoomEvents extends Record<string, unknown> {
  status: RoomStatus;
  /** A fresh view of the room after each (re)join. */
  joined: Joined;
  /** Every notification, after the room has applied it. */
  notification: Notification;
  media: RemoteMedia;
  mediaEnded: RemoteMedia;
  /** Paused, resumed, or a new simulcast layer. */
  mediaChanged: RemoteMedia;
  /** A publication started, stopped, was paused or resumed. */
  publication: { source: Source; publication: Publication | null };
  /** A publication could not be (re)established. */
  publishFailed: { source: Source; error: Error };
  /** ICE of one of the transports is being repaired, or works again. */
  mediaHealth: MediaHealth;
}

export interface RoomOptions {
  /** Which producers to receive; by default every other peer's. */
  shouldConsume?: (producer: ProducerInfo) => boolean;
}

const ICE_DISCONNECTED_GRACE_MS = 3000;
const ICE_REPAIR_TIMEOUT_MS = 10_000;
const ICE_RESTARTS_BEFORE_REJOIN = 2;

/** State that lives as long as one joined connection. */
class Session {
  device: Device | null = null;
  recv: types.Transport | null = null;
  send: Promise<types.Transport> | null = null;
  /** Producers being consumed or already consumed. */
  consuming = new Set<ProducerId>();
  /** Producers closed in this session (a consume may answer after the close). */
  gone = new Set<ProducerId>();
  ended = false;
  /** Joined, with a recv transport: ready to send and receive. */
  ready = false;
  repairing = new Set<string>();
  iceTimers = new Map<string, ReturnType<typeof setTimeout>>();
  iceRestarts = 0;
}

export class RoomClient extends Emitter<RoomEvents> {
  readonly signaling: Signaling;
  readonly remote = new Map<ConsumerId, RemoteMedia>();
  readonly publications = new Map<Source, Publication>();
  joined: Joined | null = null;
  status: RoomStatus = { kind: 'connecting' };
  private session: Session | null = null;
  /** Notifications held back while a join is under way. */
  private buffer: Notification[] | null = null;
  private readonly shouldConsume: (producer: ProducerInfo) => boolean;

  constructor(token: string, options: RoomOptions = {}) {
    super();
    this.signaling = new Signaling(signalingUrls(token));
    this.shouldConsume = options.shouldConsume ?? (() => true);
    this.signaling.onOpen(() => void this.joinSession());
    this.signaling.onLost(() => this.endSession());
    this.signaling.onState((state) => this.onSignalingState(state));
    this.signaling.onNotification((n) => this.onNotification(n));
  }

  start(): void {
    this.signaling.start();
  }

  get selfId(): PeerId | null {
    return this.joined?.peerId ?? null;
  }

  request: Signaling['request'] = (method, data, timeoutMs) => this.signaling.request(method, data, timeoutMs);

  // --- session ---------------------------------------------------------------

  private onSignalingState(state: SignalingState): void {
    switch (state.kind) {
      case 'connecting':
        if (this.status.kind !== 'reconnecting') this.setStatus({ kind: 'connecting' });
        break;
      case 'retrying':
        this.setStatus({ kind: 'reconnecting', reason: state.reason, at: state.at });
        break;
      case 'stopped':
        this.endSession();
        this.setStatus({ kind: 'ended', reason: state.reason, message: state.message });
        break;
      case 'open':
        break; // live once joined
    }
  }

  private async joinSession(): Promise<void> {
    this.endSession();
    const session = new Session();
    this.session = session;
    const buffered: Notification[] = [];
    this.buffer = buffered;
    try {
      const joined = await this.request('join', {});
      if (session.ended) return;
      const device = await Device.factory();
      await device.load({ routerRtpCapabilities: joined.routerRtpCapabilities });
      if (session.ended) return;
      session.device = device;
      await this.request('setRtpCapabilities', { rtpCapabilities: device.recvRtpCapabilities });
      session.recv = await this.createTransport(session, 'recv');
      if (session.ended) return;
      this.joined = joined;
      session.ready = true;
      this.signaling.markHealthy();
      this.setStatus({ kind: 'live' });
      this.emit('joined', joined);
      // Notifications that came while joining, now that the page knows the room.
      this.buffer = null;
      for (const n of buffered) this.onNotification(n);
      for (const producer of joined.producers) void this.consume(session, producer);
      for (const publication of this.publications.values()) void this.republish(session, publication, joined);
    } catch (error) {
      if (this.buffer === buffered) this.buffer = null;
      if (session.ended) return;
      const e = error as RequestError;
      if ((error as Error).name === 'UnsupportedError') {
        this.signaling.stop('refused', 'This browser cannot take part in live classes (no usable WebRTC). Try a recent Chrome, Edge, Firefox or Safari.');
      } else if (e.code === 'room_full') {
        this.signaling.stop('refused', 'This class is full.');
      } else if (e.code === 'unauthorized' || e.code === 'forbidden') {
        this.signaling.stop('refused', e.message);
      } else if (e.code !== 'disconnected') {
        this.signaling.restart(`could not join: ${e.message}`);
      }
    }
  }

  /** Forgets the transports and what they carried; publications keep their tracks. */
  private endSession(): void {
    const session = this.session;
    if (!session) return;
    session.ended = true;
    this.session = null;
    for (const timer of session.iceTimers.values()) clearTimeout(timer);
    for (const media of [...this.remote.values()]) this.dropRemote(media);
    session.recv?.close();
    void session.send?.then((t) => t.close(), () => {});
    for (const publication of this.publications.values()) {
      publication.producer = null;
      this.emit('publication', { source: publication.source, publication });
    }
    if (session.repairing.size > 0) this.emit('mediaHealth', 'ok');
  }

  /** Leaves the room for good. */
  async leave(): Promise<void> {
    try {
      await this.request('leave', {}, 3000);
    } catch {
      // Leaving anyway.
    }
    this.signaling.stop('left', 'You left the class.');
  }

  private setStatus(status: RoomStatus): void {
    this.status = status;
    this.emit('status', status);
  }

  // --- transports ------------------------------------------------------------

  private async createTransport(session: Session, direction: 'send' | 'recv'): Promise<types.Transport> {
    const info: TransportCreated = await this.request('createTransport', { direction });
    if (session.ended || !session.device) throw new RequestError('disconnected', 'the session ended');
    const options = {
      id: info.id,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      // TURN for networks that let out only TCP 443 (the server's [turn] config).
      iceServers: info.iceServers ?? [],
      iceTransportPolicy: info.iceTransportPolicy ?? 'all',
    };
    const transport =
      direction === 'send' ? session.device.createSendTransport(options) : session.device.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.request('connectTransport', { transportId: info.id, dtlsParameters }).then(() => callback(), errback);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        const source = appData.source as Source;
        // Chromium no longer signals a=ssrc cname lines for RID simulcast, so
        // mediasoup-client sends an empty CNAME, which RFC 3550 does not allow.
        // Leaving it out lets the server pick one (mediasoup-rust would adopt
        // "" as the CNAME of every producer of the transport; the worker then
        // refuses them all with "empty cname").
        if (rtpParameters.rtcp && !rtpParameters.rtcp.cname) delete rtpParameters.rtcp.cname;
        this.request('produce', { transportId: info.id, kind, rtpParameters, source }).then(
          ({ producerId }) => callback({ id: producerId }),
          errback,
        );
      });
    }
    transport.on('connectionstatechange', (state) => this.onIceState(session, transport, state));
    return transport;
  }

  private onIceState(session: Session, transport: types.Transport, state: types.ConnectionState): void {
    if (session.ended) return;
    const timer = session.iceTimers.get(transport.id);
    if (timer) clearTimeout(timer);
    session.iceTimers.delete(transport.id);
    if (state === 'connected') {
      session.iceRestarts = 0;
      if (session.repairing.delete(transport.id) && session.repairing.size === 0) this.emit('mediaHealth', 'ok');
    } else if (state === 'disconnected') {
      // Often recovers by itself (a network blip); repair it if it does not.
      session.iceTimers.set(
        transport.id,
        setTimeout(() => void this.repairIce(session, transport), ICE_DISCONNECTED_GRACE_MS),
      );
    } else if (state === 'failed') {
      void this.repairIce(session, transport);
    }
  }

  /** restartIce; a new session when that does not bring the transport back. */
  private async repairIce(session: Session, transport: types.Transport): Promise<void> {
    if (session.ended || transport.closed) return;
    if (session.repairing.size === 0) this.emit('mediaHealth', 'repairing');
    session.repairing.add(transport.id);
    if (session.iceRestarts >= ICE_RESTARTS_BEFORE_REJOIN) {
      this.signaling.restart('the media connection failed');
      return;
    }
    session.iceRestarts += 1;
    try {
      const { iceParameters } = await this.request('restartIce', { transportId: transport.id as TransportId });
      if (session.ended || transport.closed) return;
      await transport.restartIce({ iceParameters });
    } catch (error) {
      if (!session.ended) this.signaling.restart(`the media connection failed (${(error as Error).message})`);
      return;
    }
    session.iceTimers.set(
      transport.id,
      setTimeout(() => {
        if (transport.connectionState !== 'connected') void this.repairIce(session, transport);
      }, ICE_REPAIR_TIMEOUT_MS),
    );
  }

  private sendTransport(session: Session): Promise<types.Transport> {
    if (!session.send) {
      session.send = this.createTransport(session, 'send');
      session.send.catch(() => {
        if (this.session === session) session.send = null;
      });
    }
    return session.send;
  }

  // --- receiving ---------------------------------------------------------------

  private async consume(session: Session, producer: ProducerInfo): Promise<void> {
    if (producer.peerId === this.joined?.peerId || !this.shouldConsume(producer)) return;
    if (session.consuming.has(producer.id) || session.gone.has(producer.id)) return;
    session.consuming.add(producer.id);
    try {
      const data = await this.request('consume', { producerId: producer.id });
      if (session.ended || !session.recv) return;
      const consumer = await session.recv.consume({
        id: data.consumerId,
        producerId: data.producerId,
        kind: data.kind,
        rtpParameters: data.rtpParameters,
        appData: { source: data.source, peerId: data.peerId },
      });
      if (session.ended || session.gone.has(producer.id)) {
        consumer.close();
        return;
      }
      const media: RemoteMedia = {
        consumerId: data.consumerId,
        producerId: data.producerId,
        peerId: data.peerId,
        source: data.source,
        kind: data.kind,
        type: data.type,
        track: consumer.track,
        consumer,
        producerPaused: data.producerPaused,
        spatialLayer: null,
        temporalLayer: null,
      };
      this.remote.set(media.consumerId, media);
      await this.request('resumeConsumer', { consumerId: media.consumerId });
      if (!this.remote.has(media.consumerId)) return; // closed meanwhile
      this.emit('media', media);
    } catch (error) {
      session.consuming.delete(producer.id);
      const e = error as RequestError;
      // A producer that closed meanwhile, or a session that ended: nothing to receive.
      if (session.ended || e.code === 'not_found' || e.code === 'disconnected') return;
      console.warn(`cannot receive ${producer.source} of ${producer.peerId}: ${e.message}`);
    }
  }

  private dropRemote(media: RemoteMedia): void {
    if (!this.remote.delete(media.consumerId)) return;
    this.session?.consuming.delete(media.producerId);
    media.consumer.close();
    this.emit('mediaEnded', media);
  }

  /** Asks the server for at most this simulcast layer of a video consumer. */
  async setPreferredLayer(media: RemoteMedia, spatialLayer: number, temporalLayer?: number): Promise<void> {
    const data: { consumerId: ConsumerId; spatialLayer: number; temporalLayer?: number } = {
      consumerId: media.consumerId,
      spatialLayer,
    };
    if (temporalLayer !== undefined) data.temporalLayer = temporalLayer;
    await this.request('setConsumerPreferredLayers', data);
  }

  /** Number of simulcast layers a consumer has (1 when not simulcast). */
  static spatialLayers(media: RemoteMedia): number {
    const mode = media.consumer.rtpParameters.encodings?.[0]?.scalabilityMode ?? 'L1T1';
    const match = /^[LS](\d+)T(\d+)/.exec(mode);
    return match ? Number(match[1]) : 1;
  }

  // --- sending -------------------------------------------------------------

  /**
   * Sends `track` as `source` from now on, again after reconnections too.
   * Rejects (and forgets the publication) when the server refuses it.
   */
  async publish(
    source: Source,
    track: MediaStreamTrack,
    options: {
      encodings?: types.RtpEncodingParameters[];
      codecOptions?: types.ProducerCodecOptions;
      paused?: boolean;
    } = {},
  ): Promise<void> {
    if (this.publications.has(source)) throw new Error(`already sending ${source}`);
    const { paused = false, ...rest } = options;
    const publication: Publication = { source, track, paused, producer: null, ...rest };
    this.publications.set(source, publication);
    this.emit('publication', { source, publication });
    const session = this.session;
    if (!session?.ready) return; // published once joined
    try {
      await this.produce(session, publication);
    } catch (error) {
      if (this.publications.get(source) === publication) {
        this.publications.delete(source);
        this.emit('publication', { source, publication: null });
      }
      throw error;
    }
  }

  /**
   * Opens the send transport now: the server refuses it to students who may not
   * speak, so this tells before the page asks for a microphone.
   */
  async prepareSending(): Promise<void> {
    const session = this.session;
    if (!session?.ready) throw new RequestError('disconnected', 'not connected to the class');
    await this.sendTransport(session);
  }

  private async produce(session: Session, publication: Publication): Promise<void> {
    const transport = await this.sendTransport(session);
    if (session.ended || this.publications.get(publication.source) !== publication) return;
    const producerOptions: types.ProducerOptions = {
      track: publication.track,
      stopTracks: false,
      appData: { source: publication.source },
    };
    if (publication.encodings) producerOptions.encodings = publication.encodings;
    if (publication.codecOptions) producerOptions.codecOptions = publication.codecOptions;
    const producer = await transport.produce(producerOptions);
    if (session.ended || this.publications.get(publication.source) !== publication) {
      producer.close();
      if (!session.ended) void this.request('closeProducer', { producerId: producer.id as ProducerId }).catch(() => {});
      return;
    }
    publication.producer = producer;
    if (publication.track !== producer.track) await producer.replaceTrack({ track: publication.track });
    if (publication.paused) {
      producer.pause();
      await this.request('pauseProducer', { producerId: producer.id as ProducerId });
    }
    this.emit('publication', { source: publication.source, publication });
  }

  private async republish(session: Session, publication: Publication, joined: Joined): Promise<void> {
    try {
      if (joined.role === 'student' && !joined.canSpeak) {
        throw new RequestError('forbidden', 'the permission to speak ended with the connection');
      }
      await this.produce(session, publication);
    } catch (error) {
      if (session.ended) return;
      if (this.publications.get(publication.source) === publication) {
        this.publications.delete(publication.source);
        this.emit('publication', { source: publication.source, publication: null });
      }
      this.emit('publishFailed', { source: publication.source, error: error as Error });
    }
  }

  /** Swaps the track of a publication (another camera or microphone) without a new producer. */
  async replaceTrack(source: Source, track: MediaStreamTrack): Promise<void> {
    const publication = this.publications.get(source);
    if (!publication) throw new Error(`not sending ${source}`);
    publication.track = track;
    if (publication.producer && !publication.producer.closed) await publication.producer.replaceTrack({ track });
    this.emit('publication', { source, publication });
  }

  async setPaused(source: Source, paused: boolean): Promise<void> {
    const publication = this.publications.get(source);
    if (!publication || publication.paused === paused) return;
    publication.paused = paused;
    const producer = publication.producer;
    this.emit('publication', { source, publication });
    if (!producer || producer.closed) return;
    const producerId = producer.id as ProducerId;
    if (paused) {
      producer.pause();
      await this.request('pauseProducer', { producerId });
    } else {
      producer.resume();
      await this.request('resumeProducer', { producerId });
    }
  }

  /** Stops sending `source`; `tellServer` false when the server closed it already. */
  async unpublish(source: Source, tellServer = true): Promise<void> {
    const publication = this.publications.get(source);
    if (!publication) return;
    this.publications.delete(source);
    const producer = publication.producer;
    publication.producer = null;
    this.emit('publication', { source, publication: null });
    if (!producer) return;
    producer.close();
    if (tellServer) {
      await this.request('closeProducer', { producerId: producer.id as ProducerId }).catch((error: RequestError) => {
        if (error.code !== 'not_found' && error.code !== 'disconnected') throw error;
      });
    }
  }

  // --- notifications -----------------------------------------------------------

  private onNotification(n: Notification): void {
    if (this.buffer) {
      this.buffer.push(n);
      return;
    }
    const session = this.session;
    switch (n.notification) {
      case 'newProducer':
        if (session) void this.consume(session, n.data.producer);
        break;
      case 'producerClosed':
        session?.gone.add(n.data.producerId);
        for (const media of [...this.remote.values()]) {
          if (media.producerId === n.data.producerId) this.dropRemote(media);
        }
        break;
      case 'consumerClosed': {
        session?.gone.add(n.data.producerId);
        const media = this.remote.get(n.data.consumerId);
        if (media) this.dropRemote(media);
        break;
      }
      case 'producerPaused':
      case 'producerResumed':
        for (const media of this.remote.values()) {
          if (media.producerId !== n.data.producerId) continue;
          media.producerPaused = n.notification === 'producerPaused';
          this.emit('mediaChanged', media);
        }
        break;
      case 'consumerLayersChanged': {
        const media = this.remote.get(n.data.consumerId);
        if (media) {
          media.spatialLayer = n.data.spatialLayer;
          media.temporalLayer = n.data.temporalLayer;
          this.emit('mediaChanged', media);
        }
        break;
      }
      case 'speakPermission':
        if (this.joined && n.data.peer.id === this.joined.peerId) {
          this.joined.canSpeak = n.data.peer.canSpeak;
          // Taking the permission back closes the microphone on the server already.
          if (!n.data.peer.canSpeak) void this.unpublish('mic', false);
        }
        break;
      case 'recording':
        if (this.joined) this.joined.recording = n.data.active;
        break;
      default:
        break;
    }
    this.emit('notification', n);
  }
}
