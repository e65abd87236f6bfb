"""Detail Sharpen (node RK_DetailSharpen): the core function, declared as it is."""

from ...params import Param, declare
from ...sharpen.cas import SPACES
from ...sharpen.detail import METHODS, SOLVERS, detail_sharpen
from ..common import IMAGE, choice_param, image_output

declare(
    "detail_sharpen",
    detail_sharpen,
    bind={"image": "x"},
    display_name="Detail Sharpen",
    category="sharpen",
    description=(
        "Advanced sharpening methods behind one amount: guided-filter detail boost (edge-preserving, little halo), "
        "signed high-pass, Laplacian-pyramid band boost, AMD contrast-adaptive sharpening (CAS) and deconvolution "
        "by a Gaussian blur. Luminance only by default."
    ),
    inputs=[
        IMAGE,
        choice_param("method", "guided", METHODS,
                     "guided = boost the detail above a guided-filter base layer (edges kept, little halo); "
                     "high_pass = add the signed high-pass (image minus Gaussian blur); laplacian_pyramid = boost "
                     "the finest pyramid bands; cas = AMD FidelityFX contrast-adaptive sharpening; deconvolution = "
                     "undo a Gaussian blur of sigma radius (Wiener or Richardson-Lucy)."),
        Param("amount", "float", 1.0, min=0.0, max=5.0, step=0.05,
              help="How much of the method's detail change is added: 0 = unchanged, 1 = the method's own strength "
              "(for cas: CAS as published), up to 5."),
        Param("radius", "float", 1.0, min=0.1, max=20.0, step=0.1, units="pixels",
              help="Detail size. high_pass: Gaussian sigma; guided: window radius round(2 x radius); deconvolution: "
              "sigma of the Gaussian blur undone. Not used by laplacian_pyramid and cas."),
        Param("luminance_only", "bool", True,
              help="Sharpen brightness only and keep the colour (recommended); off = every RGB channel on its own."),
        Param("levels", "int", 2, min=1, max=8, advanced=True, units="pyramid bands",
              help="laplacian_pyramid only: how many of the finest bands are boosted (band k holds periods of "
              "2^(k+1)-2^(k+2) px; 2 = 2-8 px). Not used by the other methods."),
        Param("edge_contrast", "float", 25.5, min=0.5, max=255.0, step=0.5, units="0-255 grey levels",
              scale=1 / 255, advanced=True,
              help="guided only: edges with more contrast than this stay in the base layer and get little extra "
              "contrast (eps = contrast^2); finer, fainter detail is boosted. Not used by the other methods."),
        Param("sharpness", "float", 0.5, min=0.0, max=1.0, step=0.05, advanced=True,
              help="cas only: AMD's sharpness (0 = kernel lobe -1/8, 1 = -1/5, scaled down where contrast is "
              "already high). Not used by the other methods."),
        choice_param("space", "linear", SPACES,
                     "cas only: linear = sharpen linear light (as CAS was designed), srgb = the gamma-encoded "
                     "values. Not used by the other methods.", advanced=True),
        choice_param("solver", "wiener", SOLVERS,
                     "deconvolution only: wiener = Wiener filter with automatic regularisation (fast); "
                     "richardson_lucy = TV-regularised Richardson-Lucy iterations. Not used by the other methods.",
                     advanced=True),
        Param("iterations", "int", 20, min=1, max=500, advanced=True,
              help="deconvolution with richardson_lucy only: number of iterations. Not used otherwise."),
    ],
    outputs=[image_output("The sharpened image.")],
)
