/** What the console page and the broker's console door agree on, beside the broker's routes. */

/** The header the page sends its session key in (the cookie's other half); the event stream takes it as ?key=. */
export const CONSOLE_KEY_HEADER = "x-claude-peers-console-key";
