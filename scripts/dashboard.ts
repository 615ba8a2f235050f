// The dashboard: a small web app over any store (README "The dashboard").
//   bun run scripts/dashboard.ts --store sqlite:./data.db [--port 8470] [--read-only]
//   bun run scripts/dashboard.ts --demo            (an in-memory store with example instances)
// Also `duroxide dashboard ...`. The flags are read in src/dashboard/cli.ts; the app is
// src/dashboard/server.ts (startDashboard).
import { dashboardCli } from "../src/dashboard/cli.ts";

process.exitCode = await dashboardCli(Bun.argv.slice(2));
