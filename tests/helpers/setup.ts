/** Preloaded by bunfig.toml: tests spawn real brokers and servers, so 5 s is too tight on 2 loaded cores. */
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(60_000);
