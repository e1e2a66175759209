/** A SQL string literal for LanceDB (DataFusion) filters: single quotes doubled, nothing else is special. */
export function quoteSql(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** `('a', 'b')` for `column IN (...)`. */
export function sqlList(values: readonly string[]): string {
  return `(${values.map(quoteSql).join(", ")})`;
}
