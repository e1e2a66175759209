/**
 * Typed errors of the model runtime. Callers (CLI, server, ingest) map them to exit codes / HTTP statuses by class,
 * and show `message`, which always names what is wrong and where.
 */

/** The model directory cannot be used: a file is missing or corrupt, or the files contradict each other. */
export class ModelDirectoryError extends Error {
  constructor(
    readonly modelDir: string,
    /** What is wrong, naming the file and field (e.g. `lance-e5.json: /hidden_size must be integer`). */
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`model directory ${modelDir}: ${problem}`, options);
    this.name = "ModelDirectoryError";
  }
}

/** One input text cannot be embedded (empty, not a string, invalid Unicode, too long with truncation off). */
export class InvalidInputError extends Error {
  constructor(
    /** Position of the offending text in the input array. */
    readonly index: number,
    readonly problem: string,
  ) {
    super(`input ${index}: ${problem}`);
    this.name = "InvalidInputError";
  }
}

/** An embedding option the model cannot honour (e.g. Matryoshka dims on a model trained without them). */
export class EmbedOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EmbedOptionsError";
  }
}
