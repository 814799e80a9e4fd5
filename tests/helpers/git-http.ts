/**
 * A git smart-HTTP server on 127.0.0.1 for tests: `git http-backend` behind Bun.serve (CGI), so a
 * git URL marketplace (`claude plugin marketplace add http://…/repo.git`, which clones shallow)
 * works with no network. Serves the bare repositories in `root`; stop() ends it.
 */
export interface GitHttp {
  url(repo: string): string;
  stop(): void;
}

export function serveGit(root: string): GitHttp {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const proc = Bun.spawn(["git", "http-backend"], {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          GIT_PROJECT_ROOT: root,
          GIT_HTTP_EXPORT_ALL: "1",
          REQUEST_METHOD: req.method,
          PATH_INFO: decodeURIComponent(url.pathname),
          QUERY_STRING: url.search.slice(1),
          CONTENT_TYPE: req.headers.get("content-type") ?? "",
          ...(req.headers.get("content-encoding") ? { HTTP_CONTENT_ENCODING: req.headers.get("content-encoding")! } : {}),
          GIT_PROTOCOL: req.headers.get("git-protocol") ?? "",
          REMOTE_ADDR: "127.0.0.1",
        },
        stdin: req.body ? new Uint8Array(await req.arrayBuffer()) : "ignore",
        stdout: "pipe",
        stderr: "ignore",
      });
      const out = Buffer.from(await new Response(proc.stdout).arrayBuffer());
      await proc.exited;
      // CGI: headers, a blank line, the body.
      const split = out.indexOf("\r\n\r\n") >= 0 ? out.indexOf("\r\n\r\n") : out.indexOf("\n\n");
      const sep = out.indexOf("\r\n\r\n") >= 0 ? 4 : 2;
      const headers = new Headers();
      let status = 200;
      for (const line of out.subarray(0, split).toString("latin1").split(/\r?\n/)) {
        const i = line.indexOf(":");
        if (i < 0) continue;
        const [name, value] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
        else headers.append(name, value);
      }
      return new Response(out.subarray(split + sep), { status, headers });
    },
  });
  return { url: (repo) => `http://127.0.0.1:${server.port}/${repo}`, stop: () => server.stop(true) };
}
