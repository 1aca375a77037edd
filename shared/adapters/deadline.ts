/**
 * The time one invocation has for its calls, and the signal that cancels them. Created per
 * invocation (never shared by the container): an invocation cut off by its timeout must not hand
 * its deadline to the next one, nor keep writing under the next one's.
 */
export class Deadline {
  /** Epoch ms by which every call must have returned; `undefined`: none. */
  readonly at: number | undefined;
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(at?: number) {
    this.at = at;
    if (at !== undefined) {
      this.#timer = setTimeout(
        () => this.#controller.abort(new DeadlineExceeded()),
        Math.max(0, at - Date.now()),
      );
      this.#timer.unref();
    }
  }

  /** No deadline: the CLI and tests without a Lambda context. */
  static none(): Deadline {
    return new Deadline(undefined);
  }

  /** Aborted when the deadline passes or the invocation ends. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Milliseconds left (Infinity without a deadline; 0 once ended). */
  remaining(): number {
    if (this.#controller.signal.aborted) return 0;
    return this.at === undefined ? Number.POSITIVE_INFINITY : Math.max(0, this.at - Date.now());
  }

  /** A signal for one attempt: aborted after `timeoutMs` or with the deadline, whichever is first. */
  attempt(timeoutMs: number): AbortSignal {
    const ms = Math.min(timeoutMs, this.remaining());
    return AbortSignal.any([this.#controller.signal, AbortSignal.timeout(Math.max(1, Math.floor(ms)))]);
  }

  /** Ends the invocation: whatever is still running is cancelled and nothing new starts. */
  end(): void {
    clearTimeout(this.#timer);
    if (!this.#controller.signal.aborted) this.#controller.abort(new DeadlineExceeded('invocation ended'));
  }
}

export class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
  constructor(message = 'no time left in this invocation') {
    super(message);
  }
}
