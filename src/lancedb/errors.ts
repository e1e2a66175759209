import type { ModelIdentity } from "../model/config.ts";

function describe(identity: ModelIdentity): string {
  return `${identity.name} (hash ${identity.hash.slice(0, 12)}, dim ${identity.dim})`;
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
