import type { SessionRunner } from "./session-runner.ts";

/**
 * ORT session runners (worker sessions) shared by every embedder in the process, keyed by (model path, RoPE base,
 * threads, sessions, last-token graph, rotary cache rows).
 * It must be module-level: LanceDB constructs a new embedding-function object (and so a new embedder) on every
 * add, mergeInsert and search, and creating a session costs seconds for real models.
 * Entries are reference-counted so `dispose()` of one embedder does not pull a session from under another.
 */

interface Entry {
  session: Promise<SessionRunner>;
  refs: number;
}

const sessions = new Map<string, Entry>();

export interface SessionKey {
  modelPath: string;
  ropeBase: number;
  threads: number;
  sessions: number;
  /** Whether the graph is rewritten to a last-token graph (last-token-graph.ts). */
  lastToken: boolean;
  /** Rows of the rotary caches an attention rewrite adds (attention-graph.ts); 0 without that rewrite. */
  positions: number;
}

export interface SessionLease {
  session: SessionRunner;
  /** Drops this holder's reference; the session is released when the last holder lets go. */
  release(): Promise<void>;
}

export async function acquireSession(key: SessionKey, create: () => Promise<SessionRunner>): Promise<SessionLease> {
  const id = JSON.stringify([key.modelPath, key.ropeBase, key.threads, key.sessions, key.lastToken, key.positions]);
  let entry = sessions.get(id);
  if (entry === undefined) {
    const created: Entry = { session: create(), refs: 0 };
    // A failed creation must not poison the cache: the next load retries (e.g. after the files were fixed).
    created.session.catch(() => {
      if (sessions.get(id) === created) sessions.delete(id);
    });
    sessions.set(id, created);
    entry = created;
  }
  entry.refs++;
  let session: SessionRunner;
  try {
    session = await entry.session;
  } catch (error) {
    entry.refs--;
    throw error;
  }
  const held = entry;
  let released = false;
  return {
    session,
    async release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0 && sessions.get(id) === held) {
        sessions.delete(id);
        await session.release();
      }
    },
  };
}

/** Number of live cached sessions (for tests and diagnostics). */
export function cachedSessionCount(): number {
  return sessions.size;
}
