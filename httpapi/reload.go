package httpapi

import "net/http"

// reloadHandler reloads the config and the rules (POST /-/reload): 200
// with the new status, or 422 with the errors of a rejected one.
func (h *handler) reloadHandler(w http.ResponseWriter, r *http.Request) {
	ok := h.Reloader.Reload(r.Context(), "api", identity(r))
	code := http.StatusOK
	if !ok {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, h.Reloader.Status())
}
