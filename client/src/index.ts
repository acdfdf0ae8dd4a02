// The start page: in dev mode, a form that asks the server for a join link
// (/api/dev/token) and opens it; otherwise, how to get one.

import { takeLinkParams } from './token';
import { byId, show } from './ui';

// The start link printed by the server carries the dev secret (#dev=...):
// the server mints dev tokens only for whoever holds it.
const devSecret = takeLinkParams().get('dev') ?? '';

const state = byId('server-state');
const devSection = byId('dev-section');
const linkSection = byId('link-section');
const form = byId<HTMLFormElement>('dev-form');
const error = byId('dev-error');

interface DevToken {
  token: string;
  url: string;
  expiresAt: number;
}

async function start(): Promise<void> {
  try {
    const response = await fetch('/api/info', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const info = (await response.json()) as { devMode: boolean; version?: string };
    state.textContent = info.devMode
      ? `Server ${info.version ?? ''} is running in dev mode.`
      : 'Open the join link you were given.';
    state.dataset.state = info.devMode ? 'dev' : 'production';
    show(devSection, info.devMode);
    show(linkSection, true);
    if (info.devMode) byId<HTMLInputElement>('dev-name').focus();
  } catch {
    state.textContent = 'The server is unreachable. Check that Podium is running, then reload this page.';
    state.dataset.state = 'unreachable';
    state.classList.add('error');
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const query = new URLSearchParams({
    room: byId<HTMLInputElement>('dev-room').value.trim(),
    name: byId<HTMLInputElement>('dev-name').value.trim(),
    role: byId<HTMLSelectElement>('dev-role').value,
  });
  show(error, false);
  fetch(`/api/dev/token?${query}`, { cache: 'no-store', headers: { 'x-podium-dev': devSecret } })
    .then(async (response) => {
      const body = (await response.json().catch(() => null)) as (DevToken & { error?: { message: string } }) | null;
      if (!response.ok || !body) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
      const url = new URL(body.url, location.href);
      // Same origin as this page. The admin page asks for the admin key, which
      // the server prints at start-up and never hands out over HTTP.
      const target = `${url.pathname}${url.hash}`;
      location.assign(target);
    })
    .catch((e: Error) => {
      error.textContent = `Cannot join: ${e.message}`;
      show(error, true);
    });
});

void start();
