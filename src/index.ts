/** lance-e5's public API. Each area adds its exports here. */
export * from "./model/index.ts";
