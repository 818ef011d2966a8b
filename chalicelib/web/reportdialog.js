// The Report dialog: a modal <dialog> with one button per reason. It only asks; the session
// sends the report and ends the chat. The reasons are the buttons' values in index.html, which
// tests/test_page_contract.py checks against the server's (protocol.REPORT_REASONS).

export class ReportDialog {
  #dialog;
  #name;
  #onReport;

  /**
   * @param {HTMLDialogElement} dialog  holds a <form method="dialog"> whose buttons carry the reasons
   * @param {HTMLElement} name          where the stranger's name goes in the title
   * @param {(reason: string) => void} onReport
   */
  constructor(dialog, name, onReport) {
    this.#dialog = dialog;
    this.#name = name;
    this.#onReport = onReport;
    const reasons = new Set([...dialog.querySelectorAll('button.reason')].map((button) => button.value));
    // A button's value becomes returnValue; Esc and Cancel leave no reason.
    dialog.addEventListener('close', () => {
      const reason = dialog.returnValue;
      dialog.returnValue = '';
      if (reasons.has(reason)) this.#onReport(reason);
    });
    // A click on the backdrop (outside the form) closes it like Cancel.
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close('');
    });
  }

  get isOpen() {
    return this.#dialog.open;
  }

  open(peerName) {
    if (this.#dialog.open) return;
    this.#name.textContent = peerName;
    this.#dialog.returnValue = '';
    this.#dialog.showModal(); // focuses Cancel (autofocus): a stray Enter reports nothing
  }

  /** The chat ended while the dialog was open: there is no one left to report. */
  dismiss() {
    if (this.#dialog.open) this.#dialog.close('');
  }
}
