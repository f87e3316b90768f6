import * as faissModule from "faiss-node";

/** faiss-node is CommonJS: its classes are on the default export under Node's ESM loader. */
export const faiss = ((faissModule as unknown as { default?: typeof faissModule }).default ?? faissModule) as typeof faissModule;
