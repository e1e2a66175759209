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

port.on("message", async (message) => {
  if (message.kind === "release") {
    await session?.release();
    port.close();
    return;
  }
  const { id, feeds, output } = message;
  try {
    const tensors = {};
    for (const [name, feed] of Object.entries(feeds)) tensors[name] = new ort.Tensor(feed.type, feed.data, feed.dims);
    const result = (await session.run(tensors, [output]))[output];
    const data = /** @type {ArrayBufferView} */ (result.data);
    // Transfer the output buffer unless it is a view into a larger one (then a copy keeps the transfer safe).
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
    port.postMessage({ id, output: { type: result.type, data: owned, dims: [...result.dims] } }, [
      /** @type {ArrayBuffer} */ (owned.buffer),
    ]);
  } catch (error) {
    port.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
