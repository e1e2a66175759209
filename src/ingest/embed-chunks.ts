import type { Embedder } from "../model/embedder.ts";

/**
 * Document vectors for chunk texts, in order. Chunks whose content ids the chunker already holds are embedded
 * from those ids (Embedder.embedContentIds: same vectors as embedding the text, without tokenising it again);
 * the rest, and everything on backends without that method (remote), are embedded as text.
 */
export async function embedChunkTexts(
  embedder: Embedder,
  chunks: readonly { text: string }[],
  ids: readonly (readonly number[] | undefined)[],
): Promise<Float32Array[]> {
  if (chunks.length === 0) return [];
  const byIds: number[] = [];
  const byText: number[] = [];
  for (let i = 0; i < chunks.length; i++) (embedder.embedContentIds && ids[i] ? byIds : byText).push(i);
  const [fromIds, fromText] = await Promise.all([
    byIds.length > 0 ? embedder.embedContentIds!(byIds.map((i) => ids[i]!)) : [],
    byText.length > 0 ? embedder.embedDocuments(byText.map((i) => chunks[i]!.text)) : [],
  ]);
  const vectors = new Array<Float32Array>(chunks.length);
  byIds.forEach((chunk, k) => {
    vectors[chunk] = fromIds[k]!;
  });
  byText.forEach((chunk, k) => {
    vectors[chunk] = fromText[k]!;
  });
  return vectors;
}
