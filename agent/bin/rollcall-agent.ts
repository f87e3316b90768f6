#!/usr/bin/env -S node --import tsx
import { agentCommand } from "../src/command.js";

await agentCommand("rollcall-agent").parseAsync(process.argv);
