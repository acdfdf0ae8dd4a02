// Figures as people read them: bit rates, sizes, durations. Pure functions.

export function formatBitrate(bps: number): string {
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(2)} Mbit/s`;
  return `${Math.round(bps / 1000)} kbit/s`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${Math.round(bytes / 1e3)} kB`;
  return `${bytes} B`;
}

/** Always in megabytes (10^6 bytes), two decimals below 1 MB. */
export function formatMegabytes(bytes: number): string {
  const mb = bytes / 1e6;
  return `${mb.toFixed(mb < 1 ? 2 : 1)} MB`;
}

/** `m:ss`, or `h:mm:ss` from an hour on. */
export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}
