/**
 * The fields of Linux's `struct tcp_info` (include/uapi/linux/tcp.h) that say what a connection's
 * keep-alive is doing. Offsets are the kernel's ABI: stable since 2.6, fields only ever appended.
 */
export interface TcpInfo {
  /** TCP_ESTABLISHED = 1, TCP_CLOSE = 7, … */
  state: number;
  /** Keep-alive (or zero-window) probes sent and not answered yet (icsk_probes_out). */
  probes: number;
  /** Retransmission timeout, microseconds. */
  rtoUs: number;
  /** Milliseconds since the last data segment was received. */
  lastDataRecvMs: number;
  /** Milliseconds since the last ACK was received (a keep-alive probe's answer is one). */
  lastAckRecvMs: number;
  /** Smoothed round-trip time and its variance, microseconds. */
  rttUs: number;
  rttVarUs: number;
}

export const TCP_STATE_ESTABLISHED = 1;
/** Bytes up to and including tcpi_rttvar: what a read must return at least. */
export const TCP_INFO_MIN_BYTES = 76;

export function parseTcpInfo(bytes: Uint8Array): TcpInfo {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = true; // host byte order; Linux on x86-64 and arm64
  return {
    state: v.getUint8(0),
    probes: v.getUint8(3),
    rtoUs: v.getUint32(8, le),
    lastDataRecvMs: v.getUint32(52, le),
    lastAckRecvMs: v.getUint32(56, le),
    rttUs: v.getUint32(68, le),
    rttVarUs: v.getUint32(72, le),
  };
}
