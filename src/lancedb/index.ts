/** The LanceDB table layer: one arrow instance, the table schema, model identity, connections, retries. */
export { arrow } from "./arrow.ts";
export { connectDb, type DbLike, openOrCreateTable, openTable, type Table, tryOpenTable } from "./connection.ts";
export { ModelMismatchError, NotALanceE5TableError, TableNotFoundError } from "./errors.ts";
export {
  assertSameModel,
  META_DEFAULT_TASK,
  META_MODEL,
  modelIdentityOfSchema,
  readTableDefaultTask,
  readTableModelIdentity,
  sameModel,
} from "./identity.ts";
export { isCommitConflict, withCommitRetries } from "./retry.ts";
export {
  buildTableSchema,
  EMBEDDING_FUNCTION_NAME,
  inferMetadataFields,
  type MetadataFieldSpec,
  metadataFieldsOfSchema,
  vectorType,
} from "./schema.ts";
