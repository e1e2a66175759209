import { createRequire } from "node:module";

/**
 * The one place apache-arrow is loaded. LanceDB 0.31 `require`s apache-arrow's CommonJS build; an ESM `import`
 * would hand it different classes and LanceDB then rejects our tables ("Table and inner RecordBatch schemas must
 * be equivalent", shared ENVIRONMENT.md). Everything in lance-e5 that builds Arrow data imports it from here.
 */
const requireCjs = createRequire(import.meta.url);

/** apache-arrow's CommonJS build, the same module instance LanceDB uses. */
export const arrow: typeof import("apache-arrow") = requireCjs("apache-arrow");

export type ArrowSchema = import("apache-arrow").Schema;
export type ArrowField = import("apache-arrow").Field;
export type ArrowTable = import("apache-arrow").Table;
export type ArrowDataType = import("apache-arrow").DataType;
