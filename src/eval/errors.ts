/**
 * A problem with evaluation input (a BEIR directory, a pairs file, a saved run): names the file and, where there
 * is one, the 1-based line, so a user can open the file at the spot.
 */
export class EvalInputError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly problem: string,
  ) {
    super(line === null ? `${file}: ${problem}` : `${file}:${line}: ${problem}`);
    this.name = "EvalInputError";
  }
}
