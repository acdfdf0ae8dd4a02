// Join tokens arrive in the URL fragment (#token=...), which browsers never
// send to the server. Format (server/src/auth.rs):
// v1.<base64url(JSON claims)>.<base64url(HMAC)>. The page reads the claims to
// greet the user and to notice an expired link before connecting; only the
// server checks the signature.

import type { Role } from './protocol';

export interface Claims {
  room: string;
  user: string;
  name: string;
  role: Role;
  /** Expiry, Unix seconds. */
  exp: number;
}

/** The fragment's parameters: `#token=...&key=...`. */
export function fragmentParams(hash = location.hash): URLSearchParams {
  return new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
}

const STORE_KEY = `podium.link:${location.pathname}`;

/**
 * The join link's parameters, read once: the fragment is then cleared from
 * the address bar and the history (`history.replaceState`), so the token and
 * the admin key do not linger in history, bookmarks or screen shares. This
 * tab keeps them in sessionStorage, so a reload still works.
 */
export function takeLinkParams(): URLSearchParams {
  const fromFragment = fragmentParams();
  if (['token', 'key', 'dev'].some((name) => fromFragment.has(name))) {
    try {
      sessionStorage.setItem(STORE_KEY, fromFragment.toString());
    } catch {
      // storage disabled: a reload will need the link again
    }
    history.replaceState(history.state, '', location.pathname + location.search);
    return fromFragment;
  }
  try {
    return new URLSearchParams(sessionStorage.getItem(STORE_KEY) ?? '');
  } catch {
    return new URLSearchParams();
  }
}

export type TokenCheck =
  | { ok: true; token: string; claims: Claims }
  | { ok: false; problem: 'missing' | 'malformed' | 'expired' | 'wrong-page'; message: string };

function decodeBase64Url(text: string): string {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export function decodeClaims(token: string): Claims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== 'v1') return null;
  try {
    const claims = JSON.parse(decodeBase64Url(parts[1]!)) as Partial<Claims>;
    if (
      typeof claims.room !== 'string' ||
      typeof claims.name !== 'string' ||
      typeof claims.exp !== 'number' ||
      (claims.role !== 'teacher' && claims.role !== 'student' && claims.role !== 'admin')
    ) {
      return null;
    }
    return claims as Claims;
  } catch {
    return null;
  }
}

/** The page's token, checked for shape, expiry and role. */
export function readToken(expectedRole: Role, now = Date.now()): TokenCheck {
  const token = takeLinkParams().get('token');
  if (!token) {
    return { ok: false, problem: 'missing', message: 'This page needs a join link with a token.' };
  }
  const claims = decodeClaims(token);
  if (!claims) {
    return { ok: false, problem: 'malformed', message: 'This join link is damaged: copy the whole link again.' };
  }
  if (claims.exp * 1000 <= now) {
    const when = new Date(claims.exp * 1000).toLocaleString();
    return { ok: false, problem: 'expired', message: `This join link expired (${when}). Ask for a new one.` };
  }
  if (claims.role !== expectedRole) {
    return {
      ok: false,
      problem: 'wrong-page',
      message: `This link is for a ${claims.role}; open it on the ${claims.role} page.`,
    };
  }
  return { ok: true, token, claims };
}

/**
 * ws(s)://host/ws and its plain-HTTP twin, for the page's origin. The token
 * never goes into a URL (proxies log those): it travels as a WebSocket
 * subprotocol, and as a bearer header when diagnosing a refusal.
 */
export function signalingUrls(token: string): { url: string; diagnoseUrl: string; token: string } {
  const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return { url: `${wsScheme}//${location.host}/ws`, diagnoseUrl: '/ws', token };
}
