// One ONNX Runtime session in a worker thread (see session-runner.ts). Plain JavaScript on purpose: a worker does
// not inherit the tsx loader that bin/lance-e5.js registers in-process, so it must load without it. It holds no
// logic beyond "create a session, run what is posted, post the output back"; everything else stays in TypeScript.
import { parentPort, workerData } from "node:worker_threads";
import ort from "onnxruntime-node";

/** @type {{ model: string | Uint8Array, options: import("onnxruntime-node").InferenceSession.SessionOptions }} */
const { model, options } = workerData;
const port = /** @type {import("node:worker_threads").MessagePort} */ (parentPort);

/** @type {import("onnxruntime-node").InferenceSession} */
let session;
try {
  session = await ort.InferenceSession.create(model, options);
  port.postMessage({ kind: "ready", inputNames: session.inputNames, outputNames: session.outputNames });
} catch (error) {
  port.postMessage({ kind: "failed", message: error instanceof Error ? error.message : String(error) });
}

// Messages are handled one at a time: the handler awaits native work, and a "release" that overtook a run still in
// session.run would free the session under it.
let previous = Promise.resolve();
port.on("message", (message) => {
  previous = previous.then(() => handle(message));
});

/** @param {any} message */
async function handle(message) {
  if (message.kind === "release") {
    await session?.release();
    // Said before the port closes, so the parent terminates this thread only once no native call is in flight
    // (terminating during session.release() aborted the process: "terminate called after throwing Napi::Error").
    port.postMessage({ kind: "released" });
    port.close();
    return;
  }
  const { id, feeds, outputs } = message;
  try {
    const tensors = {};
    for (const [name, feed] of Object.entries(feeds)) tensors[name] = new ort.Tensor(feed.type, feed.data, feed.dims);
    const results = await session.run(tensors, outputs);
    /** @type {Record<string, {type: string, data: ArrayBufferView, dims: number[]}>} */
    const reply = {};
    /** @type {ArrayBuffer[]} */
    const transfer = [];
    for (const name of outputs) {
      const data = /** @type {ArrayBufferView} */ (results[name].data);
      // Transfer each output buffer unless it is a view into a larger one (then a copy keeps the transfer safe).
      const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
      reply[name] = { type: results[name].type, data: owned, dims: [...results[name].dims] };
      if (!transfer.includes(/** @type {ArrayBuffer} */ (owned.buffer)))
        transfer.push(/** @type {ArrayBuffer} */ (owned.buffer));
    }
    port.postMessage({ id, outputs: reply }, transfer);
  } catch (error) {
    port.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
}
