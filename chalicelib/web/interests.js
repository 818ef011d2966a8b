// The interests field: tags typed with commas (or Enter) that become removable chips.
//
// Tags are normalised the way the server stores them, so what the chips show is what is sent:
// trimmed, single spaces, lower case, at most 24 characters, no control characters, no repeats.

export const INTERESTS_MAX = 5;
export const INTEREST_CHARS_MAX = 24;

/** One tag as the server keeps it, or '' when nothing is left of it. */
export function normaliseTag(raw) {
  const words = String(raw).replace(/[\p{Cc}\p{Cs}]/gu, ' ').split(/\s+/u).filter(Boolean);
  // Count code points, as the server does: never cut an emoji in half.
  return Array.from(words.join(' ').toLowerCase()).slice(0, INTEREST_CHARS_MAX).join('').trim();
}

/** "music", "music and films", "music, films and art" (or "… or art"). */
export function listInWords(tags, conjunction = 'and') {
  if (tags.length <= 1) return tags.join('');
  return `${tags.slice(0, -1).join(', ')} ${conjunction} ${tags.at(-1)}`;
}

export class InterestsField {
  #box;
  #list;
  #input;
  #hint;
  #defaultHint;
  #tags = [];

  /**
   * @param {object} elements
   * @param {HTMLElement} elements.box     the outline around chips and input (a click focuses the input)
   * @param {HTMLUListElement} elements.list
   * @param {HTMLInputElement} elements.input
   * @param {HTMLElement} elements.hint    help text, also used to say when a tag was not added
   */
  constructor({ box, list, input, hint }) {
    this.#box = box;
    this.#list = list;
    this.#input = input;
    this.#hint = hint;
    this.#defaultHint = hint.textContent.replace(/\s+/g, ' ').trim();
    this.#hint.textContent = this.#defaultHint;

    input.addEventListener('keydown', (event) => this.#onKey(event));
    // Pasted "a, b, c" becomes chips at once; the text after the last comma stays to be edited.
    input.addEventListener('input', () => {
      if (input.value.includes(',')) this.#commit({ keepLast: true });
    });
    // Leaving the field makes chips of what was typed; moving to a chip's button does not, so
    // that the button is still there to take the click.
    box.addEventListener('focusout', (event) => {
      if (!box.contains(event.relatedTarget)) this.commit();
    });
    box.addEventListener('click', (event) => {
      if (event.target === box || event.target === list) input.focus();
    });
  }

  /** The tags to send with `register` (text still in the input counts too). */
  get tags() {
    this.commit();
    return [...this.#tags];
  }

  /** Turn whatever is typed into chips. */
  commit() {
    this.#commit({ keepLast: false });
  }

  #onKey(event) {
    if (event.isComposing) return;
    const input = this.#input;
    if ((event.key === 'Enter' || event.key === ',') && input.value.trim()) {
      // With text, Enter makes a chip; an Enter in the empty field is left to the page (Start).
      event.preventDefault();
      event.stopPropagation();
      this.commit();
    } else if (event.key === 'Backspace' && input.value === '' && this.#tags.length) {
      event.preventDefault();
      this.#remove(this.#tags.length - 1, { focusInput: true });
    }
  }

  #commit({ keepLast }) {
    const parts = this.#input.value.split(',');
    const rest = keepLast ? parts.pop() : '';
    let refused = '';
    let added = false;
    for (const part of parts) {
      const tag = normaliseTag(part);
      if (!tag || this.#tags.includes(tag)) continue;
      if (this.#tags.length >= INTERESTS_MAX) {
        refused = `Up to ${INTERESTS_MAX} interests: "${tag}" was not added.`;
        continue;
      }
      this.#tags.push(tag);
      added = true;
    }
    if (this.#input.value !== rest.trimStart()) this.#input.value = rest.trimStart();
    if (added) this.#render();
    if (refused) this.#hint.textContent = refused;
  }

  #remove(index, { focusInput = false } = {}) {
    this.#tags.splice(index, 1);
    this.#render();
    if (focusInput) this.#input.focus();
  }

  #render() {
    const items = this.#tags.map((tag, index) => {
      const item = document.createElement('li');
      item.className = 'interest-chip';
      const text = document.createElement('span');
      text.textContent = tag;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'interest-remove';
      remove.textContent = '×';
      remove.setAttribute('aria-label', `Remove ${tag}`);
      remove.addEventListener('click', () => {
        // Keep keyboard users in the field: the next chip's button, else the input.
        this.#remove(index);
        const buttons = this.#list.querySelectorAll('.interest-remove');
        (buttons[Math.min(index, buttons.length - 1)] ?? this.#input).focus();
      });
      item.append(text, remove);
      return item;
    });
    this.#list.replaceChildren(...items);
    this.#list.hidden = items.length === 0;
    const full = this.#tags.length >= INTERESTS_MAX;
    this.#input.placeholder = full ? 'Remove one to add another' : this.#tags.length ? 'Add another…' : 'music, films…';
    this.#box.dataset.full = String(full);
    this.#hint.textContent = this.#defaultHint;
  }
}
