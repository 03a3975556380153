package ups

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// readBody reads a request body of at most limit bytes. On failure it has
// answered the request (413 or 400, Catalog's shape) and returns false.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			catalogError(w, http.StatusRequestEntityTooLarge, titleTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", tooLarge.Limit))
			return nil, false
		}
		catalogError(w, http.StatusBadRequest, titleBadRequest, "The request body could not be read.")
		return nil, false
	}
	return body, true
}
