/* lightning_modules._jpeg_region: decode only a region of a JPEG with libjpeg-turbo (optional; setup.py).
 *
 * A training crop needs its own rows and columns, not the whole image: rows below the crop are never read,
 * rows above it are skipped (jpeg_skip_scanlines: entropy-decoded, no IDCT or colour conversion), and the
 * columns outside it are left out of the IDCT and colour conversion (jpeg_crop_scanline). Same settings as
 * Pillow's decoder (islow IDCT, fancy upsampling, 1/r DCT scaling), so the pixels of the region are Pillow's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h>

struct strict_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void raise_error(j_common_ptr cinfo) {
    struct strict_error *err = (struct strict_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0) raise_error(cinfo);  /* a warning is corrupt data: an error, as simplejpeg's strict mode */
}

static const char *space_name(J_COLOR_SPACE space) {
    switch (space) {
        case JCS_GRAYSCALE: return "Gray";
        case JCS_RGB: return "RGB";
        case JCS_YCbCr: return "YCbCr";
        case JCS_CMYK: return "CMYK";
        case JCS_YCCK: return "YCCK";
        default: return "unknown";
    }
}

/* A decompressor whose errors and warnings longjmp to the caller's setjmp (set right after this). */
static void start(struct jpeg_decompress_struct *cinfo, struct strict_error *err) {
    cinfo->err = jpeg_std_error(&err->pub);
    err->pub.error_exit = raise_error;
    err->pub.emit_message = on_message;
    jpeg_create_decompress(cinfo);
}

static void read_header(struct jpeg_decompress_struct *cinfo, Py_buffer *data) {
    jpeg_mem_src(cinfo, data->buf, (unsigned long)data->len);
    jpeg_read_header(cinfo, TRUE);
}

static PyObject *header(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    struct jpeg_decompress_struct cinfo;
    struct strict_error err;
    start(&cinfo, &err);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, err.message);
        return NULL;
    }
    read_header(&cinfo, &data);
    PyObject *result = Py_BuildValue("iis", (int)cinfo.image_width, (int)cinfo.image_height,
                                     space_name(cinfo.jpeg_color_space));
    jpeg_destroy_decompress(&cinfo);
    PyBuffer_Release(&data);
    return result;
}

/* decode(data, r, x0, y0, x1, y1) -> (bytearray of rows x width x 3 RGB, x, y0, width, rows).
 * The region [x0, x1) x [y0, y1) is in the 1/r-scaled image's pixels; libjpeg widens it to whole iMCU
 * columns, so the result starts at column x <= x0 and is width >= x1 - x wide. */
static PyObject *decode(PyObject *self, PyObject *args) {
    Py_buffer data;
    int denom, x0, y0, x1, y1;
    if (!PyArg_ParseTuple(args, "y*iiiii", &data, &denom, &x0, &y0, &x1, &y1)) return NULL;
    if (denom != 1 && denom != 2 && denom != 4 && denom != 8) {
        PyBuffer_Release(&data);
        return PyErr_Format(PyExc_ValueError, "reduction 1/%d: only 1, 2, 4 or 8", denom);
    }
    struct jpeg_decompress_struct cinfo;
    struct strict_error err;
    PyObject *volatile out = NULL;
    start(&cinfo, &err);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        PyBuffer_Release(&data);
        Py_XDECREF(out);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, err.message);
        return NULL;
    }
    read_header(&cinfo, &data);
    cinfo.out_color_space = JCS_RGB;  /* from YCbCr, RGB or grey; CMYK / YCCK are refused here (Pillow's) */
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned int)denom;
    jpeg_start_decompress(&cinfo);
    if (x0 < 0 || y0 < 0 || x1 <= x0 || y1 <= y0 || x1 > (int)cinfo.output_width || y1 > (int)cinfo.output_height) {
        snprintf(err.message, sizeof err.message, "region [%d, %d) x [%d, %d) outside the %u x %u image",
                 x0, x1, y0, y1, cinfo.output_width, cinfo.output_height);
        longjmp(err.jump, 1);
    }
    JDIMENSION x = (JDIMENSION)x0, width = (JDIMENSION)(x1 - x0);
    jpeg_crop_scanline(&cinfo, &x, &width);
    if (y0 > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)y0);
    out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(y1 - y0) * width * 3);
    if (out == NULL) longjmp(err.jump, 1);
    unsigned char *pixels = (unsigned char *)PyByteArray_AS_STRING(out);
    while ((int)cinfo.output_scanline < y1) {
        JSAMPROW row = pixels + (size_t)(cinfo.output_scanline - (JDIMENSION)y0) * width * 3;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            snprintf(err.message, sizeof err.message, "no scanline %u", cinfo.output_scanline);
            longjmp(err.jump, 1);
        }
    }
    jpeg_abort_decompress(&cinfo);  /* the rows below the region are never read */
    jpeg_destroy_decompress(&cinfo);
    PyBuffer_Release(&data);
    return Py_BuildValue("Niiii", out, (int)x, y0, (int)width, y1 - y0);
}

static PyMethodDef methods[] = {
    {"header", header, METH_VARARGS, "header(data) -> (width, height, colour space of the JPEG)"},
    {"decode", decode, METH_VARARGS, "decode(data, r, x0, y0, x1, y1) -> (RGB rows, x, y, width, rows)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jpeg_region", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jpeg_region(void) { return PyModule_Create(&module); }
