/**
 * Every TCP socket the kernel lists, with its owners, from `ss -tnoiepH` (iproute2): the one
 * enumeration `inspect` and `set` share. ss reads the kernel's socket table over netlink and maps
 * socket inodes to processes through /proc (which Deno itself may only read with --allow-all).
 * Its output is parsed as it streams, so 20,000 sockets never sit in memory as text.
 */
import { parseSsTimer, type SocketTimer, splitEndpoint } from "../observe/ss.ts";

/** A process holding the socket: ss's users:(("name",pid=…,fd=…)). */
export interface Owner {
  command: string;
  pid: number;
  fd: number;
}

export interface ListedSocket {
  /** ss's state name: ESTAB, LISTEN, SYN-SENT, CLOSE-WAIT, … */
  state: string;
  recvQ: number;
  sendQ: number;
  /** Addresses as ss prints them, without brackets or %interface. "*" for a listener's peer. */
  local: string;
  localPort: number;
  peer: string;
  peerPort: number;
  /** Empty when no owner is visible (another user's process, without root). */
  owners: Owner[];
  timer: SocketTimer | null;
  /** ms since the kernel last sent data / received data / received an ACK (ss -i). */
  lastSndMs: number | null;
  lastRcvMs: number | null;
  lastAckMs: number | null;
  /** Unrecovered retransmissions of the segment in flight, and the connection's total. */
  retransmits: number;
  totalRetransmits: number;
  inode: number;
  /** The kernel's id of the socket (ss -e's "sk:", SO_COOKIE), unique for its life; null if absent. */
  cookie: number | null;
}

export type StateFilter = "established" | "all";

export interface ListingQuery {
  /** Which states; `listening` adds listening sockets to `established`. */
  states: StateFilter | "established+listening";
  /** Either end on this port. */
  port?: number;
  /** The remote end: an address, and a port when given. */
  dst?: { address: string; port?: number };
  /**
   * ss's TCP_INFO details (-i: lastsnd, lastrcv, lastack, retransmissions); default true. Left out
   * when every socket's TCP_INFO will be read through its own descriptor: -i is most of ss's
   * output, so this halves what ss writes and tcpka parses.
   */
  details?: boolean;
  /**
   * The owning processes (ss -p); default true. Left out when tcpka finds the owners itself
   * (owner_scan.ts): ss -p reads every process's descriptor table before it prints anything.
   */
  owners?: boolean;
}

/** The state of every row when ss prints no State column (a single state selected). */
export function impliedState(query: ListingQuery): string | null {
  return query.states === "established" ? "ESTAB" : null;
}

/** ss's argument list for `query` (a filter expression in ss's own syntax, never a shell). */
export function ssArgs(query: ListingQuery): string[] {
  const args = [
    `-tno${query.details === false ? "" : "i"}e${query.owners === false ? "" : "p"}H`,
  ];
  if (query.states === "all") args.push("state", "all");
  else args.push("state", "established");
  if (query.states === "established+listening") args.push("state", "listening");
  const filters: string[] = [];
  if (query.port !== undefined) {
    filters.push(`( sport = :${query.port} or dport = :${query.port} )`);
  }
  if (query.dst) {
    const host = query.dst.address.includes(":") ? `[${query.dst.address}]` : query.dst.address;
    filters.push(`dst ${host}${query.dst.port === undefined ? "" : `:${query.dst.port}`}`);
  }
  if (filters.length) args.push(filters.join(" and "));
  return args;
}

/**
 * Parses ss output incrementally: `push` text as it arrives, `end` when it stops. A socket is a
 * header line and, with -i, an indented line of TCP_INFO details.
 */
export class SsListingParser {
  readonly sockets: ListedSocket[] = [];
  readonly #impliedState: string | null;
  #rest = "";
  #current: ListedSocket | null = null;

  readonly #onSocket: ((socket: ListedSocket) => void) | null;

  /**
   * `impliedState`: ss leaves out its State column when the filter selects a single state
   * (`state established`), so the state the rows have is known from the query instead.
   * `onSocket`: called with each socket once its lines are complete, while ss is still writing.
   */
  constructor(
    impliedState: string | null = null,
    onSocket: ((socket: ListedSocket) => void) | null = null,
  ) {
    this.#impliedState = impliedState;
    this.#onSocket = onSocket;
  }

  push(text: string): void {
    const data = this.#rest + text;
    let start = 0;
    for (let nl = data.indexOf("\n"); nl >= 0; nl = data.indexOf("\n", start)) {
      this.#line(data.slice(start, nl));
      start = nl + 1;
    }
    this.#rest = data.slice(start);
  }

  end(): ListedSocket[] {
    if (this.#rest) this.#line(this.#rest);
    this.#rest = "";
    this.#complete();
    return this.sockets;
  }

  #complete(): void {
    if (this.#current && this.#onSocket) this.#onSocket(this.#current);
    this.#current = null;
  }

  #line(line: string): void {
    if (line.length === 0) return;
    const first = line.charCodeAt(0);
    if (first === 9 || first === 32) { // tab or space: details of the socket above
      if (this.#current) readDetails(this.#current, line);
      return;
    }
    this.#complete();
    const socket = parseHeader(line, this.#impliedState);
    if (socket) this.sockets.push(socket);
    this.#current = socket;
  }
}

export function parseListing(text: string, impliedState: string | null = null): ListedSocket[] {
  const parser = new SsListingParser(impliedState);
  parser.push(text);
  return parser.end();
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}
const USER = /\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\)/g;
const TIMER = /timer:\(([a-z_]+),([^,]+),(\d+)\)/;

function parseHeader(line: string, impliedState: string | null): ListedSocket | null {
  const fields: string[] = [];
  const first = line.charCodeAt(0);
  const withState = !(first >= 48 && first <= 57) || impliedState === null;
  if (!withState) fields.push(impliedState);
  // The first fields by hand, not by regular expression: this runs once per socket.
  let at = 0;
  while (fields.length < 5) {
    while (at < line.length && isSpace(line.charCodeAt(at))) at++;
    if (at >= line.length) return null;
    const start = at;
    while (at < line.length && !isSpace(line.charCodeAt(at))) at++;
    fields.push(line.slice(start, at));
  }
  const [state, recvQ, sendQ, localText, peerText] = fields;
  const [local, localPort] = splitEndpoint(localText);
  const [peer, peerPort] = splitEndpoint(peerText);
  const owners: Owner[] = [];
  const users = line.indexOf("users:((", at);
  if (users >= 0) {
    USER.lastIndex = users;
    for (let m; (m = USER.exec(line));) {
      owners.push({ command: m[1], pid: Number(m[2]), fd: Number(m[3]) });
      // Owners are one comma-separated group; stop at its end.
      if (line.charCodeAt(USER.lastIndex) === 41 /* ) */) break;
    }
  }
  let timer: SocketTimer | null = null;
  const t = line.includes("timer:(") ? TIMER.exec(line) : null;
  if (t) {
    const ms = parseSsTimer(t[2]);
    if (ms !== null) timer = { name: t[1], ms, count: Number(t[3]) };
  }
  return {
    state,
    recvQ: Number(recvQ),
    sendQ: Number(sendQ),
    local,
    localPort,
    peer,
    peerPort,
    owners,
    timer,
    lastSndMs: null,
    lastRcvMs: null,
    lastAckMs: null,
    retransmits: 0,
    totalRetransmits: 0,
    inode: numberAfter(line, " ino:") ?? 0,
    cookie: hexAfter(line, " sk:"),
  };
}

function readDetails(socket: ListedSocket, line: string): void {
  // ss prints lastsnd, lastrcv and lastack only when they are not 0 (within this jiffy); a
  // listener has none of them at all.
  const absent = socket.state === "LISTEN" ? null : 0;
  socket.lastSndMs = numberAfter(line, " lastsnd:") ?? absent;
  socket.lastRcvMs = numberAfter(line, " lastrcv:") ?? absent;
  socket.lastAckMs = numberAfter(line, " lastack:") ?? absent;
  const at = line.indexOf(" retrans:");
  if (at >= 0) {
    const m = /^(\d+)\/(\d+)/.exec(line.slice(at + 9, at + 30));
    if (m) {
      socket.retransmits = Number(m[1]);
      socket.totalRetransmits = Number(m[2]);
    }
  }
}

/** The hexadecimal number right after `label` in `line`, or null. */
function hexAfter(line: string, label: string): number | null {
  const at = line.indexOf(label);
  if (at < 0) return null;
  let i = at + label.length;
  const start = i;
  for (
    let c = line.charCodeAt(i);
    (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
    c = line.charCodeAt(++i)
  );
  return i > start ? parseInt(line.slice(start, i), 16) : null;
}

/** The decimal number right after `label` in `line`, or null. Cheaper than a regex per field. */
function numberAfter(line: string, label: string): number | null {
  const at = line.indexOf(label);
  if (at < 0) return null;
  let i = at + label.length, n = 0, digits = 0;
  for (let c = line.charCodeAt(i); c >= 48 && c <= 57; c = line.charCodeAt(++i)) {
    n = n * 10 + (c - 48);
    digits++;
  }
  return digits ? n : null;
}
