/**
 * Typed errors of the query path. The CLI prints `message`; the server maps each class to a 400 with a stable
 * `code` (src/server/errors.ts). Every message names the offending field, operator or value.
 */

/** A filter that is not valid in the JSON filter language (src/search/filter.ts). */
export class FilterError extends Error {
  constructor(
    /** Stable machine-readable reason: `unknown_field`, `unknown_operator`, `invalid_value`, `invalid_filter`. */
    readonly reason: "unknown_field" | "unknown_operator" | "invalid_value" | "invalid_filter",
    /** JSON-pointer-like location of the problem inside the filter (e.g. `/$and/1/title`). */
    readonly at: string,
    problem: string,
  ) {
    super(`filter ${at || "/"}: ${problem}`);
    this.name = "FilterError";
  }
}

/** A search request that cannot be run as given (bad k, mode, empty query, task and instruction both set...). */
export class SearchRequestError extends Error {
  constructor(
    /** The request field at fault (`query`, `k`, `mode`, `task`, `instruction`). */
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = "SearchRequestError";
  }
}

/** Full-text or hybrid search on a table that has no full-text index on `text` (ingest creates one). */
export class FullTextIndexMissingError extends Error {
  constructor(readonly table: string) {
    super(
      `table "${table}" has no full-text index on "text"; re-run \`lance-e5 ingest\` (it creates one) or use mode "vector"`,
    );
    this.name = "FullTextIndexMissingError";
  }
}
