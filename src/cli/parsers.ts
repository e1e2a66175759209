import { InvalidArgumentError } from "commander";

/** Commander argument parsers shared by the commands; a bad value becomes commander's usage error (exit 2). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be a non-negative integer");
  return n;
}

/** A fusion weight: a number from 0 to 1 (hybrid search's --vector-weight). */
export function unitInterval(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError("must be a number from 0 to 1");
  }
  return n;
}

/** A RoPE base: a finite number greater than 1 (1e4, 100000, …). */
export function ropeBase(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 1) throw new InvalidArgumentError("must be a number > 1");
  return n;
}
