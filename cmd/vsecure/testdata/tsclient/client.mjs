// End-to-end check with the official MCP TypeScript SDK: spawn
// `vsecure mcp serve` over stdio, list tools, read an ungated secret and
// get an approval-pending result for a gated one. Prints one JSON object.
//
// Env: VSECURE_BIN, VSECURE_API_URL, VSECURE_API_KEY, UNGATED_URI, GATED_URI.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const env = process.env;
const transport = new StdioClientTransport({
  command: env.VSECURE_BIN,
  args: ["mcp", "serve"],
  env: { VSECURE_API_URL: env.VSECURE_API_URL, VSECURE_API_KEY: env.VSECURE_API_KEY, PATH: env.PATH ?? "" },
  stderr: "inherit",
});
const client = new Client({ name: "vsecure-ts-e2e", version: "1.0.0" });
await client.connect(transport);

const tools = await client.listTools();
const read = async (uri) => {
  const res = await client.callTool({ name: "read_secret", arguments: { uri, reason: "ts e2e" } });
  return { isError: res.isError ?? false, structured: res.structuredContent, meta: res._meta ?? null, content: res.content };
};
const ungated = await read(env.UNGATED_URI);
const gated = await read(env.GATED_URI);
const resources = await client.listResources();
const templates = await client.listResourceTemplates();

console.log(JSON.stringify({
  server: client.getServerVersion(),
  tools: tools.tools.map((t) => t.name).sort(),
  ungated,
  gated,
  resources: resources.resources.map((r) => r.uri),
  templates: templates.resourceTemplates.map((t) => t.uriTemplate),
}));
await client.close();
