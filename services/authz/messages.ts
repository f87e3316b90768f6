import type { Message } from "@bufbuild/protobuf";

/** A generated message's fields as a plain object: what stores return and handlers answer with. */
export type Fields<M extends Message> = Omit<M, keyof Message>;
