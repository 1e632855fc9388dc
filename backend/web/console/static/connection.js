/* The console's one WebSocket (/console/ws): JSON frames both ways, reconnecting with
 * backoff when it drops. What the frames mean is console.js's business. */

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10000;

export class Connection {
  /** handlers: opened(), message(frame), closed(event) -> false to stop reconnecting. */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.backoff = FIRST_RETRY_MS;
  }

  open() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = FIRST_RETRY_MS;
      this.handlers.opened();
    };
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") this.handlers.message(frame);
    };
    ws.onclose = (event) => {
      this.ws = null;
      if (this.handlers.closed(event) === false) return;
      setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, MAX_RETRY_MS);
    };
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }
}
