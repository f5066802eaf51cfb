/** The one error a capture reader raises for bad input: what is wrong, and where in the stream. */
export class PcapError extends Error {
  override readonly name = "PcapError";
  /** Byte offset in the stream where the bad record (or header) starts. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}
