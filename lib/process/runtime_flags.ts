/**
 * V8 settings tcpka runs with: in deno.json's tasks, baked in by `deno compile`, and used by the
 * tests and by tcpka starting itself (a test checks the tasks carry the same).
 *
 * A young generation ("semi-space") capped at 2 MB: during a burst of thousands of connections V8
 * otherwise grows it to its 16 MB default and keeps it, which measured about 2 KB of RSS per idle
 * connection at 10,000 (client 8.8 → 5.9 KB, server 6.1 → 4.1 KB). Reading a 1,000,000-packet
 * capture is as fast with it (1.70 s against 1.73 s) and peaks lower (111 MB against 182 MB);
 * 1 MB would cost capture 14% in extra scavenges.
 */
export const V8_FLAGS: readonly string[] = ["--v8-flags=--max-semi-space-size=2"];
