// The chat log. Every piece of user text goes in through textContent, never as HTML.

// Within this of the bottom counts as at the bottom: the reader follows new messages.
const BOTTOM_SLACK_PX = 40;

export class ChatLog {
  #list;
  #pinned = true; // the reader is at the bottom, following new messages

  constructor(list) {
    this.#list = list;
    list.addEventListener('scroll', () => {
      this.#pinned = list.scrollHeight - list.scrollTop - list.clientHeight < BOTTOM_SLACK_PX;
    });
    // The log shrinks when a notice appears or a phone's keyboard opens: whoever was reading the
    // latest lines still sees them.
    new ResizeObserver(() => {
      if (this.#pinned) list.scrollTop = list.scrollHeight;
    }).observe(list);
  }

  /** A message from `who` ('me' or 'peer'), shown under `name`. */
  message(who, name, text) {
    const item = this.#item(`msg msg-${who}`);
    const label = document.createElement('span');
    label.className = 'msg-name';
    label.textContent = name;
    const body = document.createElement('span');
    body.className = 'msg-text';
    body.textContent = text;
    item.append(label, body);
    this.#add(item);
  }

  /** A line from the app itself, such as "You are now chatting with Ana". */
  system(text) {
    const item = this.#item('msg msg-system');
    item.textContent = text;
    this.#add(item);
  }

  clear() {
    this.#list.replaceChildren();
    this.#pinned = true;
  }

  #item(className) {
    const item = document.createElement('div');
    item.className = className;
    return item;
  }

  #add(item) {
    const list = this.#list;
    // Follow new messages only when the reader is already at the bottom.
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < BOTTOM_SLACK_PX;
    list.append(item);
    if (atBottom || this.#pinned) {
      list.scrollTop = list.scrollHeight;
      this.#pinned = true;
    }
  }
}
