// Editor is a textarea with line numbers and marked lines: the error lines
// of the playground. A backdrop behind the (transparent) textarea carries
// the marks; it and the gutter scroll with the text.
import { h } from './app.js';

export class Editor {
  constructor(textarea) {
    this.ta = textarea;
    const box = textarea.closest('.editor');
    this.gutter = box.querySelector('.gutter');
    this.backdrop = box.querySelector('.backdrop');
    this.marked = new Set();
    textarea.addEventListener('input', () => {
      this.marked.clear();
      this.ta.removeAttribute('aria-invalid');
      this.render();
    });
    textarea.addEventListener('scroll', () => this.sync());
    new ResizeObserver(() => this.sync()).observe(textarea);
    this.render();
  }

  get value() {
    return this.ta.value;
  }

  set value(v) {
    this.ta.value = v;
    this.mark([]);
  }

  // mark highlights these (1-based) lines until the text is edited.
  mark(lines) {
    this.marked = new Set(lines);
    if (lines.length) this.ta.setAttribute('aria-invalid', 'true');
    else this.ta.removeAttribute('aria-invalid');
    this.render();
  }

  render() {
    const lines = this.ta.value.split('\n');
    const cls = (i) => (this.marked.has(i + 1) ? 'err' : null);
    this.gutter.replaceChildren(...lines.map((_, i) => h('div', { class: cls(i) }, i + 1)));
    this.backdrop.replaceChildren(...lines.map((l, i) => h('span', { class: cls(i) }, l || ' ')));
    this.sync();
  }

  sync() {
    this.backdrop.scrollTop = this.gutter.scrollTop = this.ta.scrollTop;
    this.backdrop.scrollLeft = this.ta.scrollLeft;
  }

  // goto puts the cursor at line:column (1-based) and scrolls it into view.
  goto(line, column) {
    const lines = this.ta.value.split('\n');
    const n = Math.min(Math.max(line, 1), lines.length);
    let offset = 0;
    for (let i = 0; i < n - 1; i++) offset += lines[i].length + 1;
    offset += Math.min(Math.max((column || 1) - 1, 0), lines[n - 1].length);
    this.ta.focus();
    this.ta.setSelectionRange(offset, offset);
    const lh = parseFloat(getComputedStyle(this.ta).lineHeight) || 20;
    const top = (n - 1) * lh;
    if (top < this.ta.scrollTop || top > this.ta.scrollTop + this.ta.clientHeight - 2 * lh) {
      this.ta.scrollTop = Math.max(0, top - this.ta.clientHeight / 3);
    }
    this.sync();
  }
}
