import type { ModelIdentity } from "../model/config.ts";

function describe(identity: ModelIdentity): string {
  return `${identity.name} (hash ${identity.hash.slice(0, 12)}, dim ${identity.dim})`;
}

/**
 * Lance's own I/O failures: an object store that stopped answering ("Generic S3 error: Error performing GET …
 * after 3 retries … error sending request"), or files of a local table that cannot be read. LanceDB reports them
 * as plain Errors whose message names the LanceError kind; nothing the request did can fix them, a retry may.
 */
export function isStorageFailure(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /LanceError\(IO\)|Generic \S+ error: Error performing|error sending request/.test(message);
}

/** The table was embedded with another model than the one given: its vectors are not comparable. */
export class ModelMismatchError extends Error {
  constructor(
    readonly table: string,
    readonly tableModel: ModelIdentity,
    readonly givenModel: ModelIdentity,
  ) {
    super(
      `table "${table}" was embedded with model ${describe(tableModel)} but the model given is ${describe(givenModel)}; ` +
        "use the table's model, or re-embed the table with --reembed",
    );
    this.name = "ModelMismatchError";
  }
}

export class TableNotFoundError extends Error {
  constructor(
    readonly table: string,
    readonly db: string,
  ) {
    super(`table "${table}" not found in ${db}; create it with \`lance-e5 ingest\``);
    this.name = "TableNotFoundError";
  }
}

/** A table that exists but was not made by lance-e5 (no model identity in its schema metadata). */
export class NotALanceE5TableError extends Error {
  constructor(
    readonly table: string,
    readonly reason: string,
  ) {
    super(`table "${table}" is not a lance-e5 table: ${reason}`);
    this.name = "NotALanceE5TableError";
  }
}
