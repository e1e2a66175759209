import type { Context } from "hono";
import { HttpError } from "../errors.ts";

/** The request body as JSON; 400 `invalid_json` when it does not parse (other read errors, e.g. the body limit, pass). */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, "invalid_json", `request body is not valid JSON: ${(error as Error).message}`);
  }
}
