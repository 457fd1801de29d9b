// Dragging a card onto a column submits the card's own move form with that column's stage: the same POST as
// its keyboard menu (the server does the move and answers with the page).
(function () {
  const board = document.getElementById("board");
  if (!board || !board.dataset.movable) return;
  let dragged = null;
  board.addEventListener("dragstart", (event) => {
    dragged = event.target.closest("li.deal");
    if (dragged) event.dataTransfer.setData("text/plain", dragged.dataset.deal);
  });
  board.querySelectorAll("section.column:not(.archived)").forEach((column) => {
    column.addEventListener("dragover", (event) => { event.preventDefault(); column.classList.add("drop"); });
    column.addEventListener("dragleave", () => column.classList.remove("drop"));
    column.addEventListener("drop", (event) => {
      event.preventDefault();
      column.classList.remove("drop");
      if (!dragged) return;
      const form = dragged.querySelector("form.move");
      form.querySelector("select[name=stage]").value = column.dataset.stage;
      form.submit();
    });
  });
})();
