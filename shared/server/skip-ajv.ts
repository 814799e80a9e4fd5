/**
 * Keeps ajv out of server.ts's start-up. The MCP SDK's Server imports ajv and ajv-formats (~25 ms
 * of a ~150 ms spawn-to-initialize on a 2-core machine) only to check elicitation answers, and
 * claude-peers never elicits. Claude Code waits on initialize, so that load is served a stand-in.
 */

/** The SDK module that imports ajv; its one export is the validator class Server constructs. */
const AJV_PROVIDER = /[\\/]@modelcontextprotocol[\\/]sdk[\\/]dist[\\/](esm|cjs)[\\/]validation[\\/]ajv-provider\.js$/;

/** Constructed by the SDK's Server like the real one; fails loudly if ever asked to validate. */
const STAND_IN = `export class AjvJsonSchemaValidator {
  getValidator() {
    throw new Error("claude-peers loads no JSON Schema validator: it never elicits (see shared/server/skip-ajv.ts)");
  }
}`;

/** Must run before the MCP SDK is first imported, so the entry point imports the SDK dynamically. */
export function skipAjv(): void {
  Bun.plugin({
    name: "claude-peers: skip ajv",
    setup(build) {
      build.onLoad({ filter: AJV_PROVIDER }, () => ({ contents: STAND_IN, loader: "js" }));
    },
  });
}
