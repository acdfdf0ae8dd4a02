// What the restream panel's parts share: the API (with the current admin
// key) and the panel's reload. Nothing mutable.

import type { AdminApi } from '../admin-api';

export interface PanelContext {
  /** The admin API with the key as it is now. */
  api(): AdminApi;
  /** Reloads the restreams at once (after an action), and goes on polling. */
  refresh(): Promise<void>;
}
