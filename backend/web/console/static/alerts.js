/* Alerts for a customer who needs the rep: a beep, a desktop notification. Browsers allow
 * sound only after the person has touched the page, so the audio is unlocked on the first
 * pointer or key press. */

export class Alerts {
  constructor(button) {
    this.audio = null;
    this.button = button;
    document.addEventListener("pointerdown", () => this.unlock(), {once: true});
    document.addEventListener("keydown", () => this.unlock(), {once: true});
    button.addEventListener("click", () => {
      this.unlock();
      this.beep();
      if ("Notification" in window) {
        Notification.requestPermission().then(() => this.showButton(), () => this.showButton());
      }
    });
    this.showButton();
  }

  showButton() {
    this.button.hidden = !("Notification" in window) || Notification.permission !== "default";
  }

  unlock() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!this.audio && Ctx) {
      try { this.audio = new Ctx(); } catch (e) { this.audio = null; }
    }
    if (this.audio && this.audio.state === "suspended") this.audio.resume();
  }

  beep() {
    const audio = this.audio;
    if (!audio || audio.state !== "running") return;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.3);
  }

  notify(title, body, tag) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const n = new Notification(title, {body: body, tag: tag});
      n.onclick = () => { window.focus(); n.close(); };
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }
}
