// The controller's retained heap at a moment the bench picks: a full garbage collection forced through
// the V8 inspector, then the heap in use. The shipped Node flags have no --expose-gc, and the last
// Mark-Compact of --trace-gc may have run mid-burst (work in flight counted as retained), so neither
// tells what the controller keeps for its Secrets at rest.
//
// How: the controller runs with --inspect-port=0 (it only picks the port: nothing listens until asked);
// SIGUSR1 opens the inspector on 127.0.0.1 at a free port, which Node announces on stderr (the
// controller's log file); HeapProfiler.collectGarbage is V8's "collect all available garbage" (several
// Mark-Compacts, weak references cleared); Runtime.getHeapUsage then reads the heap in use. The
// inspector stays open afterwards; a second call reuses it.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The Node flag the controller needs for this: the inspector's port, chosen by the kernel when opened. */
export const INSPECT_PORT_FLAG = '--inspect-port=0';

function inspectorUrl(logFile: string): string | undefined {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  const urls = [...text.matchAll(/Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+)/g)];
  return urls.at(-1)?.[1];
}

async function openInspector(pid: number, logFile: string, timeoutMs: number): Promise<string> {
  const known = inspectorUrl(logFile);
  if (known) return known;
  process.kill(pid, 'SIGUSR1');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const url = inspectorUrl(logFile);
    if (url) return url;
    if (Date.now() > deadline) throw new Error(`full GC: the controller (pid ${pid}) announced no inspector within ${timeoutMs} ms of SIGUSR1`);
    await sleep(100);
  }
}

/** Forces a full GC in the Node process `pid` and returns its heap in use afterwards, in bytes. */
export async function heapAfterFullGc(pid: number, logFile: string, timeoutMs = 60_000): Promise<number> {
  const url = await openInspector(pid, logFile, Math.min(timeoutMs, 10_000));
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`full GC: could not connect to the inspector at ${url}`));
    });
    const pending = new Map<number, (message: { result?: unknown; error?: { message?: string } }) => void>();
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message?: string } };
      if (message.id !== undefined) pending.get(message.id)?.(message);
    };
    let nextId = 0;
    const call = <T>(method: string): Promise<T> =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => reject(new Error(`full GC: ${method} got no answer in ${timeoutMs} ms`)), timeoutMs);
        pending.set(id, (message) => {
          clearTimeout(timer);
          pending.delete(id);
          if (message.error) reject(new Error(`full GC: ${method}: ${message.error.message ?? 'error'}`));
          else resolve(message.result as T);
        });
        ws.send(JSON.stringify({ id, method, params: {} }));
      });
    await call('HeapProfiler.collectGarbage');
    const usage = await call<{ usedSize: number }>('Runtime.getHeapUsage');
    return usage.usedSize;
  } finally {
    ws.close();
  }
}
