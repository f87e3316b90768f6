#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, as `npm start` runs the mesh.
import { register } from "tsx/esm/api";

register();
await import("../main.ts");
