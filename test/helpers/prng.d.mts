export function mulberry32(seed: number): () => number;
export function pattern(seed: number, nlb: number, lbaSize: number): Buffer;
