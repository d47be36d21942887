// Ctrl-C for long work: the first press asks the work to stop at its next safe point (a
// training loop after its step, with a checkpoint), the second ends the process at once.
//
// A listener on the main thread cannot do this: a training step records and submits GPU work
// synchronously, and on a slow adapter one step can take minutes, during which no event
// runs. So a worker owns SIGINT. On the first press it sets a shared flag, says what happens,
// and removes its listener: with no listener left, the next SIGINT gets the default action and
// ends the process, however busy the main thread is. Checkpoints are written atomically, so
// the last one stays intact.

const WORKER = `
let flag;
const on = () => {
  Atomics.store(flag, 0, 1);
  Deno.removeSignalListener("SIGINT", on);
  console.error("\\n" + message);
};
let message = "";
self.onmessage = (e) => {
  flag = new Int32Array(e.data.buffer);
  message = e.data.message;
  Deno.addSignalListener("SIGINT", on);
  postMessage("ready");
};
`;

/** The message printed at the first Ctrl-C. */
export const FIRST_PRESS = "kadapter: stopping after the current step and saving a " +
  "checkpoint (Ctrl-C again quits at once; the last checkpoint stays intact)";

let holders = 0;
let flag: Int32Array | null = null;
let worker: Worker | null = null;
let ready: Promise<void> = Promise.resolve();

/**
 * Starts watching for Ctrl-C (nested calls share one watcher) and returns a function that
 * stops watching; `interrupted()` says whether a first press came.
 */
export async function watchInterrupts(message = FIRST_PRESS): Promise<() => void> {
  if (holders++ === 0) {
    flag = new Int32Array(new SharedArrayBuffer(4));
    const url = URL.createObjectURL(new Blob([WORKER], { type: "text/javascript" }));
    worker = new Worker(url, { type: "module" });
    const w = worker;
    ready = new Promise((resolve) => {
      w.onmessage = () => {
        URL.revokeObjectURL(url);
        resolve();
      };
    });
    w.postMessage({ buffer: flag.buffer, message });
  }
  await ready;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders === 0) {
      worker?.terminate();
      worker = null;
      flag = null;
    }
  };
}

/** Whether Ctrl-C was pressed since watching began (false when nothing watches). */
export function interrupted(): boolean {
  return flag !== null && Atomics.load(flag, 0) === 1;
}
