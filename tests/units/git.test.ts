/** normalizeRemoteUrl: one spelling per repository, so hosts agree on `repo`. */
import { describe, expect, test } from "bun:test";
import { normalizeRemoteUrl } from "../../shared/git.ts";

describe("normalizeRemoteUrl: one spelling per repository, so hosts agree on `repo`", () => {
  test.each([
    ["git@github.com:Acme/App.git", "github.com/acme/app"],
    ["ssh://git@github.com/Acme/App", "github.com/acme/app"],
    ["https://github.com/Acme/App.git/", "github.com/acme/app"],
    ["https://user:secret@GitHub.com:443/acme/app", "github.com/acme/app"],
    ["github.com:acme/app", "github.com/acme/app"],
    ["/srv/git/Repo.git", "/srv/git/Repo"],
    ["file:///srv/git/Repo.git", "/srv/git/Repo"],
  ])("%p → %p", (url, key) => {
    expect(normalizeRemoteUrl(url)).toBe(key);
  });
});
