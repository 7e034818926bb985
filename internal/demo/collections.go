package demo

import (
	"strings"

	"github.com/tailorhq/tailor"
)

// collections are the demo shop's collections and the title words that put
// a product in one, first match first. The Online Retail data set has no
// categories, so the demo derives them from the product titles; a product
// whose title matches none goes to Gifts/Other.
var collections = []struct {
	path  string
	words []string
}{
	{"Seasonal/Christmas", []string{"CHRISTMAS", "XMAS", "ADVENT", "SNOWFLAKE", "REINDEER", "SANTA"}},
	{"Seasonal/Easter", []string{"EASTER", "EGG", "BUNNY", "CHICK"}},
	{"Kitchen/Tea & Coffee", []string{"TEA", "TEAPOT", "TEACUP", "MUG", "MUGS", "CUP", "CUPS", "SAUCER", "COFFEE", "TEATIME"}},
	{"Kitchen/Baking", []string{"CAKE", "CAKES", "CUPCAKE", "BAKING", "CAKESTAND", "CASES", "MOULD", "APRON", "COOKIE", "JELLY"}},
	{"Kitchen/Lunch & Storage", []string{"LUNCH", "JAR", "JARS", "TIN", "TINS", "BOTTLE", "BOX", "BOXES", "STORAGE", "CONTAINER", "PANTRY"}},
	{"Kitchen/Tableware", []string{"PLATE", "PLATES", "BOWL", "BOWLS", "CUTLERY", "NAPKINS", "GLASS", "TUMBLER", "JUG", "SPOON", "SPOONS", "DISH"}},
	{"Home/Candles & Lights", []string{"CANDLE", "CANDLES", "T-LIGHT", "T-LIGHTS", "LANTERN", "LIGHT", "LIGHTS", "LAMP", "TEALIGHT"}},
	{"Home/Clocks, Signs & Frames", []string{"CLOCK", "SIGN", "FRAME", "MIRROR", "PLAQUE", "WALL"}},
	{"Home/Textiles", []string{"CUSHION", "DOORMAT", "TOWEL", "BLANKET", "THROW", "QUILT"}},
	{"Home/Decorations", []string{"DECORATION", "HANGING", "HEART", "BUNTING", "GARLAND", "ORNAMENT", "WREATH", "CHIME", "VASE"}},
	{"Home/Drawer Knobs & Hooks", []string{"KNOB", "HOOK", "HOOKS", "DRAWER"}},
	{"Garden", []string{"GARDEN", "PLANT", "POT", "POTS", "WATERING", "BIRD", "FLOWER", "SEED", "SEEDS"}},
	{"Bags & Accessories", []string{"BAG", "BAGS", "PURSE", "UMBRELLA", "SHOPPER", "NECKLACE", "BRACELET", "EARRINGS", "HAIR", "RING"}},
	{"Stationery & Cards", []string{"CARD", "CARDS", "PAPER", "WRAP", "NOTEBOOK", "PENCIL", "PENCILS", "STICKER", "STICKERS", "PEN", "ENVELOPE", "TAPE", "CHALK", "STATIONERY"}},
	{"Kids & Party", []string{"PARTY", "TOY", "TOYS", "CHILDRENS", "CHILDS", "GAME", "DOLL", "DOLLY", "BALLOONS", "PLAYHOUSE", "SPACEBOY", "CIRCUS", "BIRTHDAY", "PLASTERS", "SKIPPING", "PAINT"}},
}

// Collection returns the demo collection of a product from its title.
func Collection(title string) string {
	words := strings.FieldsFunc(strings.ToUpper(title), func(r rune) bool {
		return r == ' ' || r == ',' || r == '/' || r == '.' || r == '(' || r == ')' || r == '+' || r == '&'
	})
	for _, c := range collections {
		for _, w := range words {
			for _, k := range c.words {
				if w == k {
					return c.path
				}
			}
		}
	}
	return "Gifts/Other"
}

// AssignCollections sets the demo collection of every product without
// categories, and returns the changed items.
func AssignCollections(items []tailor.Item) []tailor.Item {
	var changed []tailor.Item
	for _, it := range items {
		if len(it.Categories) > 0 || it.NonProduct || it.Title == "" {
			continue
		}
		it.Categories = []string{Collection(it.Title)}
		changed = append(changed, it)
	}
	return changed
}
