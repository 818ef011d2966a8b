// The chat log. Every piece of user text goes in through textContent, never as HTML.

export class ChatLog {
  #list;

  constructor(list) {
    this.#list = list;
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
  }

  #item(className) {
    const item = document.createElement('li');
    item.className = className;
    return item;
  }

  #add(item) {
    const list = this.#list;
    // Follow new messages only when the reader is already at the bottom.
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
}
